from modiste.cli import main

main()
