import { mapPosition, nextUndoneStep } from "../src";

/** Every step the lead gets from `position` on after moving to `toSteps`: the rule's visible outcome. */
function stepsSentAfter(fromSteps: string[], position: number, toSteps: string[]): string[] {
  const done = fromSteps.slice(0, position);
  const sent: string[] = [];
  for (let i = mapPosition({ fromSteps, position, doneStepIds: done, toSteps }); i < toSteps.length; ) {
    sent.push(toSteps[i]!);
    done.push(toSteps[i]!);
    i = nextUndoneStep(toSteps, i + 1, done);
  }
  return sent;
}

const V1 = ["a", "b", "c", "d", "e"];

describe("mapPosition", () => {
  it("an unchanged campaign: the lead goes on where it was", () => {
    for (let p = 0; p <= V1.length; p++) expect(stepsSentAfter(V1, p, V1)).toEqual(V1.slice(p));
  });

  it("a step removed is never sent", () => {
    const v2 = ["a", "b", "d", "e"];
    expect(stepsSentAfter(V1, 1, v2)).toEqual(["b", "d", "e"]);
    expect(stepsSentAfter(V1, 2, v2)).toEqual(["d", "e"]); // was waiting for c, which is gone
    expect(stepsSentAfter(V1, 3, v2)).toEqual(["d", "e"]);
  });

  it("a step inserted before the lead's position is not sent retroactively; after it, it is sent", () => {
    const v2 = ["a", "b", "x", "c", "d", "e"];
    expect(stepsSentAfter(V1, 1, v2)).toEqual(["b", "x", "c", "d", "e"]);
    // Waiting for c: x sits before c, so the lead is past it.
    expect(stepsSentAfter(V1, 2, v2)).toEqual(["c", "d", "e"]);
    expect(stepsSentAfter(V1, 3, v2)).toEqual(["d", "e"]);
    expect(stepsSentAfter(V1, 5, v2)).toEqual([]);
  });

  it("a step appended to a campaign the lead finished is sent only once the lead is migrated while active", () => {
    expect(stepsSentAfter(V1, 4, [...V1, "f"])).toEqual(["e", "f"]);
  });

  it("a reordered step is sent at most once", () => {
    // d moved before b and c: a lead past d sends it never again; a lead waiting for b gets d first, then b, c, e.
    const v2 = ["a", "d", "b", "c", "e"];
    expect(stepsSentAfter(V1, 1, v2)).toEqual(["d", "b", "c", "e"]);
    expect(stepsSentAfter(V1, 4, v2)).toEqual(["e"]);
    // b moved to the end: a lead who got b does not get it again, a lead still owed c and d gets them.
    const v3 = ["a", "c", "d", "e", "b"];
    expect(stepsSentAfter(V1, 2, v3)).toEqual(["c", "d", "e"]);
    expect(stepsSentAfter(V1, 1, v3)).toEqual(["c", "d", "e", "b"]);
  });

  it("a version sharing no step with what the lead got sends nothing retroactively; one not started starts at 0", () => {
    expect(stepsSentAfter(V1, 2, ["p", "q"])).toEqual([]);
    expect(stepsSentAfter(V1, 0, ["p", "q"])).toEqual(["p", "q"]);
  });

  it("steps passed by an earlier migration count as done even when done_step_ids lacks them", () => {
    expect(mapPosition({ fromSteps: ["a", "x", "b"], position: 2, doneStepIds: ["a"], toSteps: ["x", "a", "b"] })).toBe(2);
  });
});
