from newsimpact.cli import main

raise SystemExit(main())
