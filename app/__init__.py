"""The Realtime Distiller terminal app (``distiller``)."""
