"""The demo's sources, one generator each (run by ``mmlego generate-demo <source>``)."""

# Per source: the generator (module, function), which config `demo` keys feed which of its
# parameters, and whether it takes worker processes.
SOURCES = {
    "tcga": (
        ("mmlego.demo.tcga", "generate_tcga"),
        {"patients": "tcga_patients", "slide_size": "slide_size", "genes": "genes"},
        True,
    ),
    "mimic": (
        ("mmlego.demo.mimic", "generate_mimic"),
        {
            "stays": "mimic_stays",
            "chart_hours": "mimic_chart_hours",
            "extra_items": "mimic_extra_items",
        },
        False,
    ),
    "isic": (
        ("mmlego.demo.isic", "generate_isic"),
        {
            "patients": "isic_patients",
            "image_size": "image_size",
            "melanoma_rate": "isic_melanoma_rate",
        },
        True,
    ),
}
