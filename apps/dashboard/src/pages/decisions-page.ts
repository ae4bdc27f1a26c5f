import type { AuditEntry, AwaitingDecision } from "@nudge/db";
import { html, type Html } from "../html";

export function decisionsPage(rows: readonly AwaitingDecision[], canDecide: boolean, notice: string | undefined): Html {
  return html`${notice ? html`<p class="card" role="status">${notice}</p>` : ""}
<p class="muted">Sends the reconciler could not settle from the provider's records (for instance a call it cannot tell from
another call to the same number). Mark one sent if the provider has it; release it for one resend if you are sure it
never went out: the reconciler then sends it once, through the same claim as every message (a cancel, an opt-out or its
deadline still stop it). Each decision is written to the audit log under your name.</p>
${rows.length === 0 ? html`<p>Nothing is waiting for a decision.</p>` : ""}
${rows.map(
  (d) => html`<div class="card" id="delivery-${d.id}"><h3>#${d.id} ${d.channel} to <a href="/timeline?address=${encodeURIComponent(d.recipient)}">${d.recipient}</a></h3>
<p>${d.reason}</p>
<p class="muted">key ${d.idempotencyKey} · first claimed ${d.firstClaimedAt} · waiting since ${d.awaitingOperatorSince} · resent ${d.resends} time(s) · provider id ${d.providerMessageId ?? "none"}</p>
<p><strong>Message:</strong> ${d.body}</p>
<p><strong>Provider reports:</strong> ${
    d.events.length === 0 ? "none" : d.events.map((e) => html`${e.status}${e.detail ? html` (${e.detail})` : ""} at ${e.receivedAt}; `)
  }</p>
<p><strong>Other sends to this address within an hour:</strong> ${
    d.neighbours.length === 0 ? "none" : d.neighbours.map((n) => html`#${n.id} ${n.state} ${n.providerMessageId ?? ""} (claimed ${n.firstClaimedAt}); `)
  }</p>
${
  canDecide
    ? html`<form method="post" action="/decisions/${d.id}/mark-sent" style="display:inline"><input name="providerMessageId" placeholder="provider id (optional, e.g. the call's sid)">
<button type="submit">Mark sent</button></form>
<form method="post" action="/decisions/${d.id}/release" style="display:inline"><button type="submit">Release for one resend</button></form>`
    : html`<p class="muted">Only an operator can decide.</p>`
}</div>`,
)}`;
}

export function auditPage(entries: readonly AuditEntry[]): Html {
  return html`<table><thead><tr><th>at</th><th>operator</th><th>action</th><th>delivery</th><th>detail</th><th>outcome</th></tr></thead><tbody>
${entries.map((e) => html`<tr><td>${e.at}</td><td>${e.operator}</td><td>${e.action}</td><td>${e.deliveryId}</td><td>${e.detail}</td><td>${e.outcome}</td></tr>`)}</tbody></table>`;
}
