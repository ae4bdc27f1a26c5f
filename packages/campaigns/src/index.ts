// Drip campaigns: definitions, versions and enrollments (see README "Drip campaigns").
export {};
