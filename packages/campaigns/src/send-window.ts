import { DateTime, IANAZone } from "luxon";

/**
 * When messages may go out, in the recipient's local time: every day (or the listed days) from `start` to `end`
 * ("HH:MM", 24-hour). A window whose end is earlier than its start crosses midnight (22:00-06:00); it belongs to the
 * day it opens on, so `days: ["fri"]` with 22:00-06:00 allows Friday 22:00 to Saturday 06:00. Generic on purpose: the
 * campaigns' send windows and the reminders' quiet hours (the complement) both use it.
 */
export interface SendWindow {
  start: string;
  end: string;
  days?: readonly Weekday[];
}

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** How far ahead a window is looked for: a window open on at least one weekday opens within 8 days. */
const HORIZON_DAYS = 9;

export function isValidTimeOfDay(value: string): boolean {
  return HH_MM.test(value);
}

/** Minutes after midnight of an "HH:MM" string. */
export function minutesOfDay(value: string): number {
  const match = HH_MM.exec(value);
  if (!match) throw new RangeError(`${JSON.stringify(value)} is not a time of day; expected "HH:MM" (00:00 to 23:59)`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Why a window can never open (start == end, or an empty list of days), or undefined when it can. */
export function emptyWindowReason(window: SendWindow): string | undefined {
  if (window.start === window.end) return `start and end are both ${window.start}, so the window is empty`;
  if (window.days !== undefined && window.days.length === 0) return "days is empty, so the window never opens";
  return undefined;
}

export function isValidTimeZone(zone: string | undefined | null): zone is string {
  return typeof zone === "string" && zone.length > 0 && IANAZone.isValidZone(zone);
}

/**
 * The IANA zone to compute in: `zone` when it is valid, else `fallback` (a campaign passes its `timezoneFallback`)
 * when that is valid, else UTC. A contact's zone comes from outside (a form, the CRM), so a bad one must not stop a
 * message; which zone was used is returned so that callers can say so.
 */
export function resolveTimeZone(zone: string | undefined | null, fallback?: string | null): string {
  if (isValidTimeZone(zone)) return zone;
  if (isValidTimeZone(fallback)) return fallback;
  return "UTC";
}

/**
 * The first instant at or after `due` inside `window`, in the time zone `zone` (no window: `due` itself).
 *
 * An instant is inside the window when its local wall-clock time lies in [start, end) on an allowed day. Across DST
 * changes that definition decides the edge cases: on a spring-forward day a window opening at 02:30 (a time that
 * does not exist) opens at the first instant after the gap, 03:00 local; on a fall-back day the repeated hour is
 * inside a window twice (both 01:30 EDT and 01:30 EST, if 01:30 is inside).
 *
 * An invalid `zone` falls back to `fallbackZone` (callers pass the campaign's `timezoneFallback`), and an invalid or
 * missing fallback to UTC; see resolveTimeZone.
 *
 * How: membership only changes where the local time reaches `start` or `end`, or where the zone's offset changes.
 * So the answer is `due` itself or one of the instants where the window opens or the offset changes; the first of
 * those that is inside the window wins.
 */
export function nextSendTime(due: Date, window: SendWindow | undefined, zone: string, fallbackZone?: string | null): Date {
  if (!window) return due;
  const empty = emptyWindowReason(window);
  if (empty) throw new RangeError(`send window ${window.start}-${window.end}: ${empty}`);
  const tz = IANAZone.create(resolveTimeZone(zone, fallbackZone));
  const start = minutesOfDay(window.start);
  const end = minutesOfDay(window.end);
  const days = window.days ? new Set(window.days) : undefined;
  const dueMs = due.getTime();

  const inside = (ms: number): boolean => {
    const local = DateTime.fromMillis(ms, { zone: tz });
    const minute = local.hour * 60 + local.minute + (local.second * 1000 + local.millisecond) / MINUTE;
    let openedOn: DateTime;
    if (start < end) {
      if (minute < start || minute >= end) return false;
      openedOn = local;
    } else if (minute >= start) {
      openedOn = local;
    } else if (minute < end) {
      openedOn = local.minus({ days: 1 });
    } else {
      return false;
    }
    return days === undefined || days.has(WEEKDAYS[openedOn.weekday - 1]!);
  };
  if (inside(dueMs)) return due;

  const dueLocal = DateTime.fromMillis(dueMs, { zone: tz });
  const firstDay = Date.UTC(dueLocal.year, dueLocal.month - 1, dueLocal.day) - DAY;
  const candidates: number[] = [];
  for (let d = 0; d <= HORIZON_DAYS; d++) {
    const day = new Date(firstDay + d * DAY);
    candidates.push(...wallClockInstants(tz, day, start));
  }
  candidates.push(...offsetChanges(tz, firstDay - DAY, firstDay + (HORIZON_DAYS + 1) * DAY));
  const found = candidates.filter((ms) => ms >= dueMs && inside(ms)).sort((a, b) => a - b)[0];
  if (found === undefined) throw new Error(`no instant inside send window ${window.start}-${window.end} within ${HORIZON_DAYS} days of ${due.toISOString()}`);
  return new Date(found);
}

/**
 * Every instant at which the local time in `tz` reads `minute` on the calendar day `day` (a UTC midnight standing
 * for that date): none in a spring-forward gap, two in a fall-back overlap, one otherwise.
 */
function wallClockInstants(tz: IANAZone, day: Date, minute: number): number[] {
  const naive = day.getTime() + minute * MINUTE; // the wall time read as if it were UTC
  const offsets = new Set([tz.offset(naive - DAY), tz.offset(naive), tz.offset(naive + DAY)]);
  const result: number[] = [];
  for (const offset of offsets) {
    const ms = naive - offset * MINUTE;
    const local = DateTime.fromMillis(ms, { zone: tz });
    if (local.year === day.getUTCFullYear() && local.month === day.getUTCMonth() + 1 && local.day === day.getUTCDate() && local.hour * 60 + local.minute === minute) {
      result.push(ms);
    }
  }
  return result;
}

/**
 * The instants in [from, to) at which the zone's UTC offset changes, to the minute. Probed twice a day, so two
 * changes within 12 hours (no zone has them) would be missed.
 */
function offsetChanges(tz: IANAZone, from: number, to: number): number[] {
  const step = DAY / 2;
  const result: number[] = [];
  for (let t = from; t < to; t += step) {
    const before = tz.offset(t);
    if (tz.offset(t + step) === before) continue;
    let low = t; // offset == before
    let high = t + step; // offset != before
    while (high - low > MINUTE) {
      const mid = low + Math.floor((high - low) / 2 / MINUTE) * MINUTE;
      if (mid === low) break;
      if (tz.offset(mid) === before) low = mid;
      else high = mid;
    }
    result.push(high);
  }
  return result;
}
