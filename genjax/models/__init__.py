"""One module per family (``from genjax.models import rbm``), each with a frozen ``<Family>Config``
and ``make_<family>(config) -> genjax.Model``."""
