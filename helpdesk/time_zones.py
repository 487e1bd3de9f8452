"""Every IANA time zone name, for the fields where people choose one."""

import zoneinfo

TIMEZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones())]
