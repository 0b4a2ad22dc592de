"""Projects: the example org-scoped resource a fork copies for its own features.

`models.py` (the table), `forms.py` (what a form may set), `services.py` (the rules, the queries,
the audit events), `routes.py` (thin handlers behind the org guards); templates in
`templates/projects/`. docs/building-a-feature.md walks through it.
"""
