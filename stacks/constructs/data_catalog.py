"""Glue Data Catalog database and the processed / curated tables, typed from the schema.

Tables are defined, not crawled: the schema is known at synth time, so a crawler would
only add cost, a race with the ETL jobs, and the risk of inferring a wrong type.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from constructs import Construct

from config.schema import PARTITION_COLUMN, DatasetSchema


def parquet_storage(
    columns: list[tuple[str, str]], location: str
) -> glue.CfnTable.StorageDescriptorProperty:
    """Parquet files at ``location`` with these (name, kind) columns."""
    return glue.CfnTable.StorageDescriptorProperty(
        # config.schema's logical kinds (string, double, int, boolean, timestamp) are Hive names.
        columns=[glue.CfnTable.ColumnProperty(name=name, type=kind) for name, kind in columns],
        location=location,
        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        serde_info=glue.CfnTable.SerdeInfoProperty(
            serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        ),
    )


class DataCatalog(Construct):
    """The stage's Glue database with one table per Parquet zone."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schema: DatasetSchema,
        processed_location: str,
        curated_location: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        """``removal_policy``: the tables are the data's lineage (columns, types,
        locations); a stage that retains its data retains them too."""
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                description=f"Data lake of the {schema.name} dataset ({Stack.of(self).stack_name})."
            ),
        )
        self.processed_table = self._parquet_table(
            "ProcessedTable",
            name=f"{schema.name}_processed",
            description="Validated, typed, deduplicated rows (one batch per ETL run).",
            columns=schema.processed_columns(),
            location=processed_location,
            partition_keys=[glue.CfnTable.ColumnProperty(name=PARTITION_COLUMN, type="string")],
            # Partition projection: Athena finds new months without MSCK or a crawler.
            parameters={
                "projection.enabled": "true",
                f"projection.{PARTITION_COLUMN}.type": "date",
                f"projection.{PARTITION_COLUMN}.format": "yyyy-MM",
                f"projection.{PARTITION_COLUMN}.range": "2000-01,NOW",
                f"projection.{PARTITION_COLUMN}.interval": "1",
                f"projection.{PARTITION_COLUMN}.interval.unit": "MONTHS",
            },
        )
        self.curated_table = self._parquet_table(
            "CuratedTable",
            name=f"{schema.name}_curated",
            description="Model-ready snapshot: latest row per id with derived features.",
            columns=schema.curated_columns(),
            location=curated_location,
        )
        for resource in (self.database, self.processed_table, self.curated_table):
            resource.apply_removal_policy(removal_policy)

    def _parquet_table(
        self,
        construct_id: str,
        *,
        name: str,
        description: str,
        columns: list[tuple[str, str]],
        location: str,
        partition_keys: list[glue.CfnTable.ColumnProperty] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> glue.CfnTable:
        return glue.CfnTable(
            self,
            construct_id,
            catalog_id=Stack.of(self).account,
            database_name=self.database.ref,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                description=description,
                table_type="EXTERNAL_TABLE",
                parameters={"classification": "parquet", **(parameters or {})},
                partition_keys=partition_keys,
                storage_descriptor=parquet_storage(columns, location),
            ),
        )
