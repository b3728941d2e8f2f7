"""Transform rules, one per module; each module's docstring says what it changes and why.

The rules are listed, named and ordered in one place: :mod:`migration.transforms.registry`.
"""
