import sys

from mlrun_registry_ext.cli import main

sys.exit(main())
