"""Front ends: thin adapters over gradebot.core.service.GradingService (cli, web, telegram)."""
