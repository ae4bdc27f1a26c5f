/** Server-rendered pages from template strings: every value goes through `esc`, and only `html` results nest raw. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === undefined || value === null || value === false) return "";
  if (value instanceof Date) return esc(formatTime(value));
  return esc(value);
}

export const formatTime = (d: Date | null | undefined) => (d ? d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "");

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:center}
header a{color:#cfe0ff;text-decoration:none}header .who{margin-left:auto;color:#aab}
main{padding:16px 20px}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;vertical-align:top}th{background:#eef1f5}
form.filters{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:12px}form.filters label{display:flex;flex-direction:column;font-size:12px}
.state{padding:1px 6px;border-radius:8px;background:#e8ecf2}.state-sent{background:#d6f5dd}.state-unknown{background:#fde6bf}
.state-failed,.state-undelivered{background:#fbd5d5}.state-skipped,.state-cancelled{background:#e9e9e9}
.muted{color:#667}.card{background:#fff;border:1px solid #e3e6ea;padding:10px 14px;margin-bottom:12px}
button{cursor:pointer}`;

export function page(title: string, user: { name: string; role: string } | undefined, body: Html): string {
  const nav = user
    ? html`<a href="/ledger">Ledger</a><a href="/decisions">Waiting for a decision</a><a href="/board">Queues (Bull Board)</a><a href="/audit">Audit log</a>
        <span class="who">${user.name} (${user.role})</span><form method="post" action="/logout" style="margin:0"><button>Log out</button></form>`
    : html``;
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} · Nudge ops</title>
<style>${new Html(STYLE)}</style></head><body><header><strong>Nudge ops</strong>${nav}</header><main><h1>${title}</h1>${body}</main></body></html>`.text;
}

export const stateBadge = (state: string | null) => html`<span class="state state-${state ?? ""}">${state ?? ""}</span>`;
