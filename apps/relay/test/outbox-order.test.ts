import type { OutboxRow } from "../src/outbox-row";
import { byOutboxId } from "../src/source-relay";

const row = (id: string) => ({ id }) as OutboxRow;

describe("byOutboxId", () => {
  it("orders BIGSERIAL ids read as text numerically, across digit counts and past 2^53", () => {
    const ids = ["100", "9", "10", "99", "9007199254740993", "1", "9007199254740992", "18446744073", "11"];
    const sorted = ids.map(row).sort(byOutboxId).map((r) => r.id);
    expect(sorted).toEqual([...ids].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0)));
    expect(sorted).toEqual(["1", "9", "10", "11", "99", "100", "18446744073", "9007199254740992", "9007199254740993"]);
  });

  it("keeps equal ids equal", () => {
    expect(byOutboxId(row("42"), row("42"))).toBe(0);
  });
});
