"""From orders to the per-customer summary: checked against the summary files `lifetimes` ships for the
CDNOW sample, and on small cases worked out by hand (same-day orders, the holdout, customers who arrive after
the calibration, both time units, the readers' errors)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.predict import CustomerSummary, Transactions, parse_dates, read_cdnow, read_transactions_csv, summarise
from tests.conftest import data_path


def read_summary_csv(name: str) -> np.ndarray:
    return np.genfromtxt(data_path("cdnow", name), delimiter=",", names=True)


def test_sample_summary_matches_the_published_one(sample_summary: CustomerSummary) -> None:
    published = read_summary_csv("cdnow_customers_summary.csv")  # ID, frequency, recency, T (weeks, 2 decimals)
    assert len(sample_summary) == len(published) == 2_357
    assert (sample_summary.customer_ids.astype(int) == published["ID"]).all()
    assert (sample_summary.frequency == published["frequency"]).all()
    assert np.abs(sample_summary.recency - published["recency"]).max() <= 0.005
    assert np.abs(sample_summary.T - published["T"]).max() <= 0.005
    assert sample_summary.T.max() == pytest.approx(272 / 7)  # first purchase 1997-01-01, calibration to 09-30


def test_mean_repeat_value_matches_the_published_zbar(sample_summary: CustomerSummary) -> None:
    published = read_summary_csv("cdnow_customers_summary_with_transactions.csv")  # ID, x, t_x, T, zbar
    assert (sample_summary.frequency == published["x"]).all()
    assert np.abs(sample_summary.mean_value - published["zbar"]).max() <= 0.005 + 1e-9  # rounded half up
    assert (sample_summary.mean_value[sample_summary.frequency == 0] == 0).all()


def test_sample_holdout_counts(sample_summary: CustomerSummary) -> None:
    assert sample_summary.holdout_length == 39.0  # 1997-10-01 .. 1998-06-30, 273 days
    assert sample_summary.frequency.sum() == 2_457  # repeat purchase days in the calibration
    assert sample_summary.holdout_frequency.sum() == 1_882  # purchase days in the holdout
    assert sample_summary.holdout_value.sum() == pytest.approx(70_976.39)


def test_master_summary(master_summary: CustomerSummary) -> None:
    assert len(master_summary) == 23_570
    assert master_summary.holdout_frequency.sum() == 19_684
    assert (master_summary.first_purchase <= np.datetime64("1997-03-25")).all()


def test_master_ids_of_the_sample_find_the_same_customers(
    sample_summary: CustomerSummary, master_summary: CustomerSummary
) -> None:
    by_master_id = summarise(read_cdnow(data_path("cdnow", "CDNOW_sample.txt"), use_master_id=True), "1997-09-30")
    assert by_master_id.customer_ids[0] == "00004" and sample_summary.customer_ids[0] == "0001"
    in_master = np.searchsorted(master_summary.customer_ids, by_master_id.customer_ids)
    assert (master_summary.customer_ids[in_master] == by_master_id.customer_ids).all()
    assert (master_summary.frequency[in_master] == by_master_id.frequency).all()
    assert np.sort(by_master_id.frequency).tolist() == np.sort(sample_summary.frequency).tolist()


def test_the_clean_csv_reads_the_same_as_the_text_file(master_summary: CustomerSummary) -> None:
    orders = read_transactions_csv(
        data_path("cdnow", "cdnow_master_clean.csv"), customer_column="customer_id", amount_column="dollar_value"
    )
    assert len(orders) == 69_659
    summary = summarise(orders, "1997-09-30", "1998-06-30")
    for field in ("customer_ids", "frequency", "recency", "T", "mean_value", "holdout_frequency"):
        assert (getattr(summary, field) == getattr(master_summary, field)).all(), field


def orders(*rows: tuple[str, str, float]) -> Transactions:
    customers, dates, amounts = zip(*rows, strict=True)
    return Transactions(np.array(customers), parse_dates(dates), np.array(amounts))


def test_same_day_orders_are_one_purchase_and_the_first_day_is_not_a_repeat() -> None:
    summary = summarise(
        orders(
            ("ana", "2024-01-01", 10.0), ("ana", "2024-01-01", 5.0),  # first day: two orders, one purchase
            ("ana", "2024-01-15", 20.0), ("ana", "2024-01-15", 4.0),  # a repeat day worth 24
            ("ana", "2024-01-29", 30.0),  # a repeat day worth 30
            ("ana", "2024-02-12", 99.0),  # holdout
            ("bo", "2024-01-22", 8.0),  # one purchase only
            ("cy", "2024-02-05", 7.0),  # arrives after the calibration: not known to the model
        ),
        calibration_end="2024-02-04",
        holdout_end="2024-02-29",
    )  # fmt: skip
    assert summary.customer_ids.tolist() == ["ana", "bo"]
    assert summary.frequency.tolist() == [2, 0]
    assert summary.recency.tolist() == [4.0, 0.0]
    assert summary.T.tolist() == [34 / 7, 13 / 7]
    assert summary.mean_value.tolist() == [27.0, 0.0]
    assert summary.holdout_frequency.tolist() == [1, 0]
    assert summary.holdout_value.tolist() == [99.0, 0.0]
    assert summary.holdout_length == 25 / 7


def test_days_as_the_time_unit_and_no_holdout() -> None:
    summary = summarise(orders(("a", "20240101", 1.0), ("a", "20240111", 2.0)), "2024-01-31", unit="days")
    assert (summary.frequency[0], summary.recency[0], summary.T[0]) == (1, 10.0, 30.0)
    assert summary.holdout_frequency is None and summary.holdout_length is None


def test_no_orders_is_an_empty_summary() -> None:
    empty = Transactions(np.array([], dtype=str), np.array([], dtype="datetime64[D]"))
    assert len(summarise(empty, "2024-01-31", "2024-02-29")) == 0


def test_holdout_must_end_after_the_calibration() -> None:
    with pytest.raises(InvalidInput):
        summarise(orders(("a", "2024-01-01", 1.0)), "2024-01-31", "2024-01-31")


def test_dates_iso_with_times_and_compact() -> None:
    days = parse_dates(["2024-03-01", "20240302", "2024-03-03T23:30:00+05:00", "2024-03-04 08:00"])
    assert days.tolist() == [np.datetime64(f"2024-03-0{day}").item() for day in (1, 2, 3, 4)]
    with pytest.raises(ValueError):
        parse_dates(["03/05/2024"])


def test_csv_reader_default_columns_optional_amount_and_errors(tmp_path: Path) -> None:
    plain = tmp_path / "orders.csv"
    plain.write_text("customer,date\nana,2024-01-01\n,2024-01-02\nana,20240105\n")
    read = read_transactions_csv(plain)
    assert read.customers.tolist() == ["ana", "ana"] and read.amounts is None

    zipped = tmp_path / "orders.csv.gz"
    with gzip.open(zipped, "wt") as handle:
        handle.write("who,when,paid\nana,2024-01-01,3.5\n")
    read = read_transactions_csv(zipped, customer_column="who", date_column="when", amount_column="paid")
    assert read.amounts.tolist() == [3.5]

    with pytest.raises(InvalidInput, match="lacks column"):
        read_transactions_csv(plain, amount_column="paid")
    bad_date = tmp_path / "bad.csv"
    bad_date.write_text("customer,date,amount\nana,2024-01-01,1\nbo,yesterday,2\n")
    with pytest.raises(InvalidInput, match="line 3"):
        read_transactions_csv(bad_date)
    bad_amount = tmp_path / "bad_amount.csv"
    bad_amount.write_text("customer,date,amount\nana,2024-01-01,lots\n")
    with pytest.raises(InvalidInput, match="line 2"):
        read_transactions_csv(bad_amount)
