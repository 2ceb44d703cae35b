"""The web explorer every node serves at `/`: server-rendered pages plus live updates (SSE).

Pages read the chain through the same views as the JSON API (`net.jsonview`) and app state
only through the apps' query methods, so the explorer shows exactly what `/v1` answers.
Templates and the small CSS/JS ship inside the package: nothing is fetched at run time.
"""

from learnchain.net.explorer.routes import install_explorer

__all__ = ["install_explorer"]
