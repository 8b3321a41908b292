"""tiertrace: signed material-origin declarations merged into confidential supply-chain views.

This package is the domain core. It imports neither the web framework nor the message broker client
(see README.md beside this file); `portal`, `worker` and `cli` depend on it, never the other way round.
"""

__version__ = "0.1.0"
