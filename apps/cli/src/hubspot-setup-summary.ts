import type { SetupItem, SetupReport } from "@nudge/providers";

const SETUP_COMMAND = "nudge hubspot setup";

function itemLine(item: SetupItem): string {
  const what = `${item.kind === "group" ? "property group" : "property"} ${item.name}`;
  switch (item.outcome) {
    case "created":
      return `${what}: created`;
    case "exists":
      return `${what}: already there`;
    case "conflict":
      return item.detail?.startsWith("is of type")
        ? `${what}: exists with another type: not changed (${item.detail})`
        : `${what}: exists but ${item.detail ?? "differs from what Nudge needs"}: not changed`;
  }
}

/** What `nudge hubspot setup` prints: one line per group or property, then one that says where the portal stands. */
export function setupSummary(report: SetupReport): { lines: string[]; ok: boolean } {
  const lines = report.items.map(itemLine);
  const created = report.items.filter((i) => i.outcome === "created").length;
  const conflicts = report.items.filter((i) => i.outcome === "conflict");
  if (conflicts.length > 0) {
    const names = conflicts.map((c) => c.name).join(", ");
    lines.push(
      `HubSpot is not ready for Nudge: ${names} cannot hold what Nudge writes and ${conflicts.length > 1 ? "were" : "was"} left unchanged; ` +
        `rename or delete ${conflicts.length > 1 ? "them" : "it"} in HubSpot (it may hold data), then run \`${SETUP_COMMAND}\` again`,
    );
  } else if (!report.changed) {
    lines.push("nothing changed: Nudge's property group and properties were all there already");
  } else {
    lines.push(`HubSpot is ready for Nudge: ${created} created, ${report.items.length - created} already there`);
  }
  return { lines, ok: report.ok };
}
