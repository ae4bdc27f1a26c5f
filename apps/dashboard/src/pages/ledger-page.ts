import type { LedgerFilter, LedgerRow } from "@nudge/db";
import { html, type Html, stateBadge } from "../html";

export const DELIVERY_STATES = ["pending", "sending", "sent", "failed", "skipped", "cancelled", "unknown", "undelivered"] as const;
export const KINDS = ["reminder", "drip", "one-off"] as const;

const timelineLink = (address: string) => html`<a href="/timeline?address=${encodeURIComponent(address)}">${address}</a>`;

export function ledgerRows(rows: readonly LedgerRow[]): Html {
  return html`<table><thead><tr><th>id</th><th>created</th><th>kind</th><th>channel</th><th>recipient</th><th>state</th><th>reason</th><th>provider status</th><th>key</th></tr></thead><tbody>
${rows.map(
  (r) => html`<tr><td>${r.id}</td><td>${r.createdAt}</td><td>${r.kind}</td><td>${r.channel}</td><td>${timelineLink(r.recipient)}</td><td>${stateBadge(r.state)}</td>
<td>${r.reason}</td><td>${r.providerStatus}</td><td class="muted">${r.idempotencyKey}</td></tr>`,
)}</tbody></table>`;
}

export function ledgerPage(filter: LedgerFilter, raw: Record<string, string>, rows: readonly LedgerRow[], nextBeforeId: number | undefined): Html {
  const field = (name: string, label: string, type = "text") =>
    html`<label>${label}<input type="${type}" name="${name}" value="${raw[name] ?? ""}"></label>`;
  const select = (name: string, label: string, options: readonly string[], current: string | undefined) =>
    html`<label>${label}<select name="${name}"><option value="">any</option>${options.map(
      (o) => html`<option${o === current ? html` selected` : ""}>${o}</option>`,
    )}</select></label>`;
  const next = new URLSearchParams(Object.entries(raw).filter(([k, v]) => k !== "before" && v !== ""));
  if (nextBeforeId !== undefined) next.set("before", String(nextBeforeId));
  return html`<form class="filters" method="get" action="/ledger">
${field("recipient", "recipient")}${field("key", "key")}${select("state", "state", DELIVERY_STATES, filter.state)}${field("reason", "reason")}
${select("kind", "kind", KINDS, filter.kind)}${field("from", "created from (UTC)", "datetime-local")}${field("to", "created before (UTC)", "datetime-local")}
<label>&nbsp;<button type="submit">Search</button></label></form>
${rows.length === 0 ? html`<p class="muted">No message matches.</p>` : ledgerRows(rows)}
${nextBeforeId !== undefined ? html`<p><a href="/ledger?${next.toString()}">Older messages →</a></p>` : ""}`;
}
