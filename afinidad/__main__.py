from afinidad.cli.main import main

main()
