from newsimpact.bench.run import main

raise SystemExit(main())
