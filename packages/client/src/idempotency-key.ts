import { z } from "zod";

const KEY_CHARACTERS = /^[A-Za-z0-9._|-]*$/;
/**
 * BullMQ refuses a custom job id that reads as an integer (`parseInt(id)` prints it back unchanged): "42", and "-42"
 * too. Nudge's own job ids are not the caller's keys, but keys stay safe as job ids wherever they travel, so the rule
 * is the stricter "not digits alone, with or without a leading dash".
 */
const INTEGER_LIKE = /^-?[0-9]+$/;

/**
 * The caller's idempotency key: 1-200 characters of A-Z a-z 0-9 . _ | -, not an integer. It is stored as given;
 * namespacing by service happens in the (source, key) pair, so a key need only be unique within its service.
 */
export const idempotencyKeySchema = z
  .string({ error: "an idempotency key is a string" })
  .min(1, { error: "an idempotency key may not be empty" })
  .max(200, { error: "an idempotency key is at most 200 characters" })
  .regex(KEY_CHARACTERS, {
    error: `an idempotency key uses only A-Z a-z 0-9 . _ | - (no ":", BullMQ's separator, and no spaces)`,
  })
  .refine((key) => !INTEGER_LIKE.test(key), {
    error: 'an idempotency key may not be digits alone (BullMQ refuses integer job ids); add a prefix, e.g. "signup-42"',
  });
