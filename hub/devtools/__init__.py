"""For development and tests, never needed to run the hub: the ministry simulator, the demo, its
sample dossiers and the background server both run in."""
