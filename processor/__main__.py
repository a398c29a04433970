"""``python -m processor`` runs the same CLI as the ``kbridge`` console script."""

from processor.cli import main

if __name__ == "__main__":
    main()
