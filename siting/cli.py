"""The ``siting`` command line: parses arguments and calls the library, nothing more.

Every command turns a :class:`~siting.errors.SitingError` into one line on stderr and
exit status 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from siting.errors import SitingError

app = typer.Typer(
    name="siting",
    help="Plan where a city should put its next 5G base stations and EV charging facilities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
area_app = typer.Typer(help="Inspect an area read from OSM.", no_args_is_help=True)
app.add_typer(area_app, name="area")


@area_app.command("info")
def area_info(
    source: str = typer.Argument(..., help="'demo', an .osm/.osm.xml/.osm.bz2/.osm.pbf file, or a place name"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Area km², buildings, road km by class, POI counts, boundary origin and CRS."""
    from siting.io.osm import area_summary, load_area
    from siting.io.export import dumps_json

    summary = area_summary(load_area(source))
    if as_json:
        typer.echo(dumps_json(summary), nl=False)
        return
    typer.echo(f"{summary['name']}: {summary['area_km2']:.2f} km² ({summary['boundary_origin']}), CRS {summary['crs']}")
    typer.echo(f"buildings: {summary['buildings']} ({summary['buildings_with_levels']} with levels, "
               f"{summary['buildings_with_height']} with height)")
    typer.echo("road km: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["road_km"].items()))
    typer.echo("POIs: " + ", ".join(f"{k} {v}" for k, v in summary["pois"].items()))


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: run the app, mapping user errors to exit status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except SitingError as exc:
        print(f"siting: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("siting: interrupted; earlier outputs are left as they were", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors come as ClickException
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            print(f"siting: error: {exc.format_message()}", file=sys.stderr)
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
