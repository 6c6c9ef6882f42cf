"""The stages the hub runs on every payload: validate, route, translate, and prepare (the stages in order)."""
