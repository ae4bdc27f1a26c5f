import type { Timeline } from "@nudge/db";
import { html, type Html, stateBadge } from "../html";

const WHAT: Record<string, string> = {
  message: "message created",
  sent: "accepted by the provider",
  "provider-report": "provider report",
  suppressed: "opted out",
  operator: "operator decision",
};

export function timelinePage(address: string, timeline: Timeline): Html {
  return html`<form class="filters" method="get" action="/timeline"><label>address (phone or email)<input name="address" value="${address}"></label>
<label>&nbsp;<button type="submit">Show</button></label></form>
<p class="muted">Addresses: ${timeline.addresses.join(", ")} · ${timeline.messages.length} message(s) · ${timeline.suppressions.length} opt-out(s)</p>
<h2>Messages</h2>
${
  timeline.messages.length === 0
    ? html`<p class="muted">No message to this address.</p>`
    : html`<table><thead><tr><th>id</th><th>created</th><th>kind</th><th>channel</th><th>to</th><th>state</th><th>provider status</th><th>reason</th><th>message</th></tr></thead><tbody>
${timeline.messages.map(
  (m) => html`<tr><td>${m.id}</td><td>${m.createdAt}</td><td>${m.kind}</td><td>${m.channel}</td><td>${m.recipient}</td><td>${stateBadge(m.state)}</td>
<td>${m.providerStatus}</td><td>${m.reason}</td><td>${m.subject ? html`<strong>${m.subject}</strong> ` : ""}${m.body}</td></tr>`,
)}</tbody></table>`
}
<h2>Opt-outs</h2>
${
  timeline.suppressions.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table><thead><tr><th>since</th><th>channel</th><th>address</th><th>reason</th><th>source</th></tr></thead><tbody>${timeline.suppressions.map(
        (s) => html`<tr><td>${s.createdAt}</td><td>${s.channel}</td><td>${s.address}</td><td>${s.reason}</td><td>${s.source}</td></tr>`,
      )}</tbody></table>`
}
<h2>Everything, in time order</h2>
<table id="timeline"><thead><tr><th>at (UTC)</th><th>what</th><th>message</th><th>channel</th><th>address</th><th>state / status</th><th>detail</th></tr></thead><tbody>
${timeline.events.map(
  (e) => html`<tr><td>${e.at}</td><td>${WHAT[e.what] ?? e.what}</td><td>${e.deliveryId ?? ""}</td><td>${e.channel}</td><td>${e.address}</td>
<td>${e.what === "message" ? stateBadge(e.state) : e.state}</td><td>${e.detail}</td></tr>`,
)}</tbody></table>`;
}
