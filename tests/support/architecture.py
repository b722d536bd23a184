import sys

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


# import-linter's own contracts forbid listed modules, so a new dependency slips through them;
# this one names what a package may import (besides the standard library and itself).
class AllowListContract(Contract):
    type_name = "allow_list"

    source_modules = fields.ListField(subfield=fields.ModuleField())
    allowed_modules = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        illegal = []
        for source in self.source_modules:  # type: ignore[attr-defined]
            allowed = (source.name, *(module.name for module in self.allowed_modules))  # type: ignore[attr-defined]
            for importer in sorted({source.name, *graph.find_descendants(source.name)}):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    top = imported.partition(".")[0]
                    if top not in sys.stdlib_module_names and not _within(imported, allowed):
                        details = graph.get_import_details(importer=importer, imported=imported)
                        illegal.append((importer, imported, [d["line_number"] for d in details]))
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported, lines in check.metadata["illegal"]:
            output.print_error(f"{importer} imports {imported} (l. {', '.join(map(str, lines))}), which is not allowed")
            output.new_line()


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)
