"""From evaluation rows to what a reader sees: tables (:mod:`.report`), figures (:mod:`.figures`),
why a policy works or fails (:mod:`.diagnostics`), where a reproduction's time goes
(:mod:`.costs`) and a rerun against the committed results (:mod:`.compare`)."""
