import { z } from "zod";

/** a-z and 0-9 in words joined by single dashes: `signup-service`, `welcome-2026`. */
export const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * A calling service's source name. Nudge keeps each request once per source and idempotency key, so two services'
 * `welcome-42` never collide; the name must stay the same for the life of the service's outbox.
 */
export const sourceNameSchema = z
  .string({ error: "a source name is a string" })
  .max(64, { error: "a source name is at most 64 characters" })
  .regex(SLUG, { error: 'a source name is a slug: a-z, 0-9 and single dashes, e.g. "signup-service"' });

/** A campaign id, as Nudge's campaign files name campaigns. */
export const campaignIdSchema = z.string()
  .regex(SLUG, { error: 'a campaign id is a slug: a-z, 0-9 and single dashes, e.g. "demo-welcome"' });
