/**
 * Where an enrollment stands when its campaign moves to another version, by step identity (a step keeps its `id`
 * across versions). The rule, for an enrollment on version A at `position` (the index in A of its next step) with
 * `done` (the ids of the steps it has advanced past, whose message exists), moving to version B:
 *
 *  1. passed = done plus every step of A before `position`. A step that was passed is never sent again, whatever
 *     its place in B (a reordered step is sent at most once).
 *  2. owed = the steps of A from `position` on that were not passed: what the lead was still going to get.
 *  3. The lead's place in B (the anchor) is the index in B of the first owed step that B still has, in B's order.
 *     When B has none of the owed steps, it is just after the furthest passed step that B has; when B has none of
 *     either, it is B's start if the lead had passed nothing, else B's end (nothing of B can be placed relative to
 *     what the lead got, so nothing is sent retroactively).
 *  4. The next step is the first step of B at or after the anchor that was not passed; none left: completed.
 *
 * Consequences, each one tested: a step removed in B is never sent (it is not in B); a step inserted before the
 * anchor is not sent retroactively (the lead is past it), one inserted after it is sent in its turn; every owed step
 * that B keeps is sent once, wherever B moved it (the anchor is the first of them in B's order); a passed step is
 * never sent again, wherever B moved it.
 *
 * After that the enrollment advances by nextUndoneStep: from the step just sent, the next step of B not yet passed.
 */
export function mapPosition(args: {
  fromSteps: readonly string[];
  position: number;
  doneStepIds: readonly string[];
  toSteps: readonly string[];
}): number {
  const { fromSteps, position, toSteps } = args;
  const passed = new Set([...args.doneStepIds, ...fromSteps.slice(0, position)]);
  const owed = new Set(fromSteps.slice(position).filter((id) => !passed.has(id)));
  const indexIn = (ids: Set<string>) => toSteps.flatMap((id, i) => (ids.has(id) ? [i] : []));

  const owedInB = indexIn(owed);
  let anchor: number;
  if (owedInB.length > 0) anchor = Math.min(...owedInB);
  else {
    const passedInB = indexIn(passed);
    if (passedInB.length > 0) anchor = Math.max(...passedInB) + 1;
    else anchor = passed.size === 0 ? 0 : toSteps.length;
  }
  return nextUndoneStep(toSteps, anchor, passed);
}

/** The index of the first step at or after `from` whose id is not in `done`; `steps.length` when there is none. */
export function nextUndoneStep(steps: readonly string[], from: number, done: ReadonlySet<string> | readonly string[]): number {
  const doneSet = done instanceof Set ? done : new Set(done as readonly string[]);
  for (let i = Math.max(0, from); i < steps.length; i++) if (!doneSet.has(steps[i]!)) return i;
  return steps.length;
}
