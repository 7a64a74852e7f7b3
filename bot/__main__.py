"""`python -m bot`: see bot/cli.py."""

from bot import patches

patches.defer_aiogram_types()  # before anything imports aiogram (see bot/patches)

from bot.cli import main  # noqa: E402

raise SystemExit(main())
