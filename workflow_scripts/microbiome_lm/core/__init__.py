"""Small shared core every stage may import: errors, atomic writes, arrays, token table, seeding."""
