from grokglass.cli import main

raise SystemExit(main())
