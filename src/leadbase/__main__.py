from leadbase.cli import main

main()
