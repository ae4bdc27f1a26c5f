// The ops dashboard: Bull Board behind a login, and Nudge's own pages beside it.
export {};
