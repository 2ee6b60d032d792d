"""Everything that reads or writes files lives in this package."""
