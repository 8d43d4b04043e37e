"""Privacy requests: a copy of everything held on a person (export), erasure that leaves only a salted hash
so the person is not re-created (erase + suppression), raw-event retention, and the audit log of it all."""
