"""The console's admin sections, one module each; admins only (ADMIN_ONLY on every router)."""
