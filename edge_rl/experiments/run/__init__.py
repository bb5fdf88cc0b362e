"""How runs are executed: the experiment engine (:mod:`.engine`, Ray embedded or a cluster,
with the :mod:`.watchdog` that ends an embedded Ray its driver left), resumable parallel runs
read back as rows (:mod:`.runs`), and the strict papermill runner of ``make reproduce``
(:mod:`.notebooks`)."""
