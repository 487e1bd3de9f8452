"""Routing rules: ordered "when these conditions hold, do these actions" run on new tickets (and, when
asked, on customer messages). Models in ``models``, matching and applying in ``engine``."""
