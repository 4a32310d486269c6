"""The MotionSense reader and the windows of the published protocol, on the committed fixture."""

import shutil
import zipfile

import numpy as np
import pytest

from edge_runtime.errors import DataError
from edge_runtime.features import MAG2, XYZ6
from edge_runtime.motionsense import MotionSense, RecordingKey
from models.data import DataConfig, load_dataset


def test_reads_zip_and_extracted_folder_alike(mini_data, tmp_path):
    zipped = MotionSense(mini_data)
    with zipfile.ZipFile(mini_data / "A_DeviceMotion_data.zip") as z:
        z.extractall(tmp_path)
    shutil.copy(mini_data / "data_subjects_info.csv", tmp_path)
    folder = MotionSense(tmp_path)
    assert zipped.keys == folder.keys and len(zipped.keys) == 40
    key = RecordingKey("wlk", 7, 3)
    np.testing.assert_array_equal(zipped.read(key), folder.read(key))


def test_raw_acceleration_is_user_acceleration_plus_gravity(mini_data):
    ms = MotionSense(mini_data)
    raw = ms.read(RecordingKey("std", 6, 1))
    assert raw.shape == (200, 6)
    # standing still: the accelerometer magnitude is about 1 g, the gyro magnitude small
    assert abs(np.median(np.linalg.norm(raw[:, :3], axis=1)) - 1.0) < 0.05
    assert np.median(np.linalg.norm(raw[:, 3:], axis=1)) < 0.3


def test_subject_table(mini_data):
    table = MotionSense(mini_data).subjects()
    assert len(table) == 24 and table[1]["gender"] == 1 and table[3]["gender"] == 0


def test_dataset_split_labels_and_standardisation(mini_data):
    ds = load_dataset(mini_data, DataConfig(), progress=False)
    # 200 rows -> (200 - 128) // 10 + 1 = 8 windows per recording
    assert len(ds.train) == 5 * 4 * 8 and len(ds.test) == 5 * 4 * 8
    assert set(np.unique(ds.test.trial)) <= {11, 12, 13, 14, 15, 16}
    assert not set(np.unique(ds.train.trial)) & {11, 12, 13, 14, 15, 16}
    assert ds.train.x.shape[1:] == (128, 2)
    assert set(ds.train.subject) == {0, 2, 4, 5}
    assert set(zip(ds.train.subject, ds.train.gender)) == {(0, 1), (2, 0), (4, 0), (5, 1)}
    z = ds.standardize(ds.train.x).reshape(-1, 2)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-3)


def test_feature_sets_name_their_channels_and_units(mini_data):
    ms = MotionSense(mini_data)
    raw = ms.read(ms.keys[0])
    mag = MAG2.from_raw(raw)
    assert MAG2.units == ("rad/s", "g") and mag.shape == (len(raw), 2)
    np.testing.assert_allclose(mag[:, 1], np.linalg.norm(raw[:, :3], axis=1), rtol=1e-5)
    assert XYZ6.from_raw(raw).shape == (len(raw), 6) and XYZ6.units[0] == "g"
    ds = load_dataset(mini_data, DataConfig(feature_set="xyz6"), progress=False)
    assert ds.train.x.shape[-1] == 6


def test_second_load_comes_from_the_cache(mini_data, monkeypatch):
    load_dataset(mini_data, DataConfig(stride=20), progress=False)
    monkeypatch.setattr(MotionSense, "read", lambda *a: pytest.fail("parsed again despite the cache"))
    ds = load_dataset(mini_data, DataConfig(stride=20), progress=False)
    assert len(ds.train) == 5 * 4 * 4


def test_subject_split(mini_data):
    ds = load_dataset(mini_data, DataConfig(split="subject", test_subjects=(2,)), progress=False)
    assert set(ds.test.subject) == {2} and 2 not in set(ds.train.subject)


# ---- bad input: a clear error naming the file -------------------------------------------------

def _copy(mini_data, tmp_path):
    shutil.copy(mini_data / "A_DeviceMotion_data.zip", tmp_path)
    shutil.copy(mini_data / "data_subjects_info.csv", tmp_path)
    return tmp_path


def test_truncated_zip_is_named(mini_data, tmp_path):
    d = _copy(mini_data, tmp_path)
    data = (d / "A_DeviceMotion_data.zip").read_bytes()
    (d / "A_DeviceMotion_data.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="A_DeviceMotion_data.zip"):
        MotionSense(d)


def test_wrong_header_is_named(mini_data, tmp_path):
    d = tmp_path
    with zipfile.ZipFile(mini_data / "A_DeviceMotion_data.zip") as z:
        z.extractall(d)
    shutil.copy(mini_data / "data_subjects_info.csv", d)
    f = d / "A_DeviceMotion_data" / "wlk_7" / "sub_3.csv"
    f.write_text(f.read_text().replace("gravity.x", "gravity_x", 1))
    with pytest.raises(DataError, match=r"wlk_7/sub_3.csv: wrong header.*gravity.x"):
        load_dataset(d, DataConfig(), progress=False)


def test_missing_member_is_named(mini_data, tmp_path):
    ms = MotionSense(mini_data)
    with pytest.raises(DataError, match="missing member A_DeviceMotion_data/sit_5/sub_1.csv"):
        ms.read(RecordingKey("sit", 5, 1))


def test_wrong_subject_table_is_named(mini_data, tmp_path):
    d = _copy(mini_data, tmp_path)
    (d / "data_subjects_info.csv").write_text("code,weight,height,age,sex\n1,80,180,30,1\n")
    with pytest.raises(DataError, match="data_subjects_info.csv: wrong subject table header"):
        MotionSense(d).subjects()
    (d / "data_subjects_info.csv").write_text("code,weight,height,age,gender\n1,80,180,30,1\n")
    with pytest.raises(DataError, match=r"no row for subject\(s\) \[3, 5, 6\]"):
        MotionSense(d).subjects()


def test_missing_data_folder_says_what_to_pass(tmp_path):
    with pytest.raises(DataError, match="MOTIONSENSE_DIR"):
        MotionSense(tmp_path)


@pytest.mark.full_data
def test_full_data_protocol_counts(full_data):
    ds = load_dataset(full_data, DataConfig(), progress=False)
    assert len(ds.train) == 82320 and len(ds.test) == 21255
    assert len(np.unique(ds.train.subject)) == 24
    # every test window comes from a test trial, every train window from another
    assert np.isin(ds.test.trial, [11, 12, 13, 14, 15, 16]).all()
    assert not np.isin(ds.train.trial, [11, 12, 13, 14, 15, 16]).any()
