"""A realistic sample register, written with openpyxl: the demo's input and the tests' and benchmarks' fixture.

Deterministic from a seed (same seed, same cells), shaped like the users' real one: ids such as
``Delhi Cantt Naraina_BP_01`` (site, equipment code, number), sites with dots and slashes in their names, a handful of
customers, categories, groups and manufacturers, coordinates near each site's city, AMC contracts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from openpyxl import Workbook

from ic3_pipeline.register.columns import REGISTER_COLUMNS

CITIES = {  # city -> (lat, lon, areas)
    "Delhi": (28.61, 77.21, ["Cantt Naraina", "Khyala", "Rohini Sec.7", "Dwarka Sec 10/B", "Okhla Ph.2", "Karol Bagh"]),
    "Mumbai": (19.08, 72.88, ["Andheri E.", "Bandra Kurla", "Powai", "Worli Sea Face", "Thane W"]),
    "Bengaluru": (12.97, 77.59, ["Whitefield", "Electronic City Ph-1", "Hebbal", "Koramangala 5th Blk"]),
    "Chennai": (13.08, 80.27, ["Guindy", "Ambattur Ind. Estate", "T. Nagar", "Sholinganallur"]),
    "Hyderabad": (17.39, 78.49, ["HITEC City", "Gachibowli", "Secunderabad", "Kukatpally"]),
    "Pune": (18.52, 73.86, ["Hinjewadi Ph 2", "Kharadi", "Pimpri", "Hadapsar"]),
    "Kolkata": (22.57, 88.36, ["Salt Lake Sec-V", "Howrah", "Park Street", "New Town AA-1"]),
    "Ahmedabad": (23.02, 72.57, ["SG Highway", "Naroda GIDC", "Maninagar"]),
    "Jaipur": (26.91, 75.79, ["Sitapura", "Malviya Nagar", "Vaishali Nagar"]),
    "Lucknow": (26.85, 80.95, ["Gomti Nagar", "Aminabad", "Chinhat"]),
    "Noida": (28.54, 77.39, ["Sector 18", "Sector 62", "Greater Noida Knowledge Park"]),
    "Gurugram": (28.46, 77.03, ["Cyber City", "Udyog Vihar Ph-4", "Sohna Road"]),
}
EQUIPMENT = [  # (code, category, group, models)
    ("BP", "Booster Pump", "Mechanical", ["KDS 538+", "CR 15-4", "NBG 65-40"]),
    ("LT", "LT-Panel", "Electrical", ["PCC 1600A", "MCC 800A", "APFC 300kVAR"]),
    ("DG", "DG Set", "Electrical", ["C500D5", "KTA19-G4", "4VBE34RW3"]),
    ("TR", "Transformer", "Electrical", ["1000kVA ONAN", "630kVA Dry", "2000kVA ONAF"]),
    ("CH", "Chiller", "HVAC", ["30XA 400TR", "YVAA 300TR", "WME 250TR"]),
    ("AHU", "Air Handling Unit", "HVAC", ["AHU-15000CFM", "AHU-8000CFM", "TFA-5000CFM"]),
    ("FP", "Fire Pump", "Fire Safety", ["Jockey 10HP", "Main 75HP", "Diesel 120HP"]),
    ("UPS", "UPS", "Electrical", ["Galaxy VS 100kVA", "9395P 300kVA", "Liebert EXL 200kVA"]),
    ("STP", "Sewage Treatment Plant", "Plumbing", ["MBBR 200KLD", "SBR 150KLD"]),
    ("LFT", "Elevator", "Mechanical", ["Gen2 13 Pax", "MonoSpace 20 Pax"]),
]
MANUFACTURERS = ["Kirloskar", "Grundfos", "Siemens", "ABB", "Schneider Electric", "Cummins", "Carrier", "Daikin",
                 "Voltas", "Crompton Greaves", "Otis", "Eaton", "Thermax"]
CUSTOMERS = ["DJB Khyala", "Metro Facilities Ltd", "Sunrise Hospitals", "Apex Tech Parks", "Greenfield Malls",
             "City Water Board", "Northern Railways Estates", "Orion Data Centres"]
CRITICALITY = ["Critical", "High", "High", "Medium", "Medium", "Medium", "Low"]


@dataclass(frozen=True)
class Site:
    name: str
    city: str
    customer: str
    lat: float
    lon: float


def make_sites(count: int, rng: random.Random) -> list[Site]:
    """``count`` distinct sites drawn from the cities' areas (numbered zones once the areas run out)."""
    names = [(f"{city} {area}", city) for city, (_, _, areas) in CITIES.items() for area in areas]
    rng.shuffle(names)
    sites: list[Site] = []
    for index in range(count):
        base, city = names[index % len(names)]
        name = base if index < len(names) else f"{base} Zone-{index // len(names) + 1}"
        lat, lon, _ = CITIES[city]
        sites.append(Site(name, city, rng.choice(CUSTOMERS), lat + rng.uniform(-0.15, 0.15), lon + rng.uniform(-0.15, 0.15)))
    return sites


def generate_rows(assets: int, sites: int, seed: int) -> Iterator[list[object]]:
    """The register's data rows, in header order, ``assets`` of them spread unevenly over ``sites`` sites."""
    rng = random.Random(seed)
    site_list = make_sites(sites, rng)
    weights = [rng.uniform(0.3, 3.0) for _ in site_list]
    counters: dict[tuple[str, str], int] = {}
    for sequence in range(1, assets + 1):
        site = site_list[(sequence - 1) % len(site_list)] if sequence <= len(site_list) else rng.choices(site_list, weights)[0]
        code, category, group, models = rng.choice(EQUIPMENT)
        number = counters[(site.name, code)] = counters.get((site.name, code), 0) + 1
        installed = date(2008, 1, 1) + timedelta(days=rng.randrange(0, 6000))
        contract_start = date(2023, 1, 1) + timedelta(days=rng.randrange(0, 700))
        values = {
            "cmms_asset_id": f"{site.name}_{code}_{number:02d}",
            "asset_name": f"{category} {number:02d} - {site.name}",
            "site_name": site.name,
            "customer_name": site.customer,
            "category_name": category,
            "group_name": group,
            "manufacturer_name": rng.choice(MANUFACTURERS),
            "model": rng.choice(models),
            "criticality": rng.choice(CRITICALITY),
            "latitude": round(site.lat + rng.uniform(-0.002, 0.002), 6),
            "longitude": round(site.lon + rng.uniform(-0.002, 0.002), 6),
            "address": f"Plot {rng.randint(1, 400)}, {site.name}, {site.city}",
            "installation_date": installed,
            "amc_id": f"AMC-{site.city[:3].upper()}-{rng.randint(1000, 9999)}",
            "contract_start_date": contract_start,
            "contract_end_date": contract_start + timedelta(days=365 * rng.choice([1, 2, 3])),
            "report_sequence_no": sequence,
        }
        yield [values[column.name] for column in REGISTER_COLUMNS]


def write_sample_register(path: str | Path, *, assets: int = 2957, sites: int = 60, seed: int = 7) -> Path:
    """Write the register to ``path`` (write-only mode: memory stays flat even for 300,000 rows)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "ic3_pipeline sample-register"
    workbook.properties.created = workbook.properties.modified = datetime(2026, 1, 1)
    sheet = workbook.create_sheet("Assets")
    sheet.append([column.header for column in REGISTER_COLUMNS])
    for row in generate_rows(assets, sites, seed):
        sheet.append(row)
    workbook.save(path)
    return path
