"""Plain-Python rules of the site: the journey graph, storage, mail. No Flask imports here."""
