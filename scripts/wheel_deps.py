"""The pinned dependency closure of the installed mlrun-registry-ext with the extras named on the command line:
``name==version`` lines, from the installed distributions' metadata (scripts/wheel-venv.sh downloads their wheels)."""

import sys
from importlib.metadata import distribution
from packaging.requirements import Requirement



def norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


seen = {}
todo = [("mlrun-registry-ext", tuple(sys.argv[1:]))]
while todo:
    name, extras = todo.pop()
    for text in distribution(name).requires or []:
        req = Requirement(text)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        key = norm(req.name)
        if key not in seen:
            seen[key] = distribution(key).version
            todo.append((key, tuple(req.extras)))
print("\n".join(f"{k}=={v}" for k, v in sorted(seen.items())))
