/* placeholder */ typedef int xray_placeholder_pipeline;
