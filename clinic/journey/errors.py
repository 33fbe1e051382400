"""The one error content checks raise: it names the file and the field, so an editor knows what to fix."""


class ContentError(Exception):
    """A content file is wrong; the message names the file and the field."""

    def __init__(self, source, field_name, problem):
        self.source = str(source)
        self.field_name = field_name
        self.problem = problem
        super().__init__(f"{source}: field '{field_name}': {problem}")
