// The webhooks app (see src/webhooks.ts once it lands): receives the providers' status callbacks and events.
export {};
