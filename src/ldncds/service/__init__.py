"""Service core shared by both HTTP packages (api, cdshooks): evaluation, the error model, auth.

It sits above the store and below every HTTP package, so api and cdshooks never import each other.
"""
