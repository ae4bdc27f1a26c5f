/**
 * The kinds of message Nudge sends. Each kind has a processor that builds its message and does its CRM step; all
 * of them go through the one send guard. A delivery row records its kind.
 */
export const MESSAGE_KINDS = ["reminder", "drip", "one-off"] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];
